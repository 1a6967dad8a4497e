import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The server answered with an error; `message` is the server's one-line explanation. */
export class APIError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }

  /** True when the server has no nbtrack API at all (the server extension is not installed). */
  get serverExtensionMissing(): boolean {
    return this.status === 404 && this.message === MISSING;
  }
}

const MISSING = 'nbtrack-server-extension-missing';

export const SERVER_MISSING_HELP =
  'The nbtrack server extension is not running. Install nbtrack in the Jupyter server\'s ' +
  'environment (pip install nbtrack), or enable it with ' +
  '"jupyter server extension enable nbtrack.server", then restart JupyterLab.';

/** The URL of an API path, for links (downloads) rather than fetches. */
export function apiURL(path: string, query: Record<string, string> = {}): string {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'nbtrack', 'api', path);
  return url + URLExt.objectToQueryString(query);
}

/**
 * Call the nbtrack REST API and decode its JSON answer.
 *
 * Example: `await requestAPI<IRunsPage>('runs', { store: 'experiments', limit: '50' })`
 */
export async function requestAPI<T>(
  path: string,
  query: Record<string, string> = {},
  init: RequestInit = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(apiURL(path, query), init, settings);
  } catch (error) {
    throw new APIError(0, `cannot reach the Jupyter server: ${String(error)}`);
  }
  const text = await response.text();
  let body: any = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    // Jupyter's own 404 page (no nbtrack route) is HTML; ours always carries a JSON message.
    if (response.status === 404 && (!body || typeof body.message !== 'string')) {
      throw new APIError(404, MISSING);
    }
    const message = body && typeof body.message === 'string' ? body.message : response.statusText;
    throw new APIError(response.status, message);
  }
  return body as T;
}
