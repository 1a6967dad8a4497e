import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ErrorCode, IErrorReply, SERVER_ERROR_CODES } from './tokens';

/**
 * The server answered with an error. `code` says what kind (switch on it, never on
 * `message`); `message` is the server's one-line explanation for people.
 */
export class APIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: ErrorCode
  ) {
    super(message);
  }

  /** True when the server has no nbtrack API at all (the server extension is not installed). */
  get serverExtensionMissing(): boolean {
    return this.code === 'extension_missing';
  }
}

export const SERVER_MISSING_HELP =
  'The nbtrack server extension is not running. Install nbtrack in the Jupyter server\'s ' +
  'environment (pip install nbtrack), or enable it with ' +
  '"jupyter server extension enable nbtrack.server", then restart JupyterLab.';

/**
 * The code of an error answer: the body's `code` when the server sent a known one;
 * from an older server (no `code` field), the closest kind its HTTP status implies.
 *
 * Example: `errorCode(400, { message: 'bad filter', code: 'bad_filter' })` → `'bad_filter'`;
 * `errorCode(504, { message: 'slow' })` → `'timeout'`.
 */
export function errorCode(status: number, body: Partial<IErrorReply> | null): ErrorCode {
  const code = body?.code;
  if (typeof code === 'string' && (SERVER_ERROR_CODES as readonly string[]).includes(code)) {
    return code as ErrorCode;
  }
  switch (status) {
    case 400:
      return 'bad_request';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'store_error';
    case 504:
      return 'timeout';
    default:
      return 'internal';
  }
}

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
    throw new APIError(0, `cannot reach the Jupyter server: ${String(error)}`, 'unreachable');
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
      throw new APIError(404, 'nbtrack-server-extension-missing', 'extension_missing');
    }
    const message = body && typeof body.message === 'string' ? body.message : response.statusText;
    throw new APIError(response.status, message, errorCode(response.status, body));
  }
  return body as T;
}

/**
 * POST `body` as JSON to the nbtrack API. JupyterLab's `ServerConnection` sends the
 * login cookie and the `_xsrf` token, which the server checks on every write.
 *
 * Example: `await postAPI('models/alias', { store }, { name: 'churn', alias: 'champion', version: 3 })`
 */
export function postAPI<T>(path: string, query: Record<string, string>, body: unknown): Promise<T> {
  return requestAPI<T>(path, query, { method: 'POST', body: JSON.stringify(body) });
}

/** An error as one line for a notice: the server's message, never HTML. */
export function errorText(error: unknown): string {
  return error instanceof APIError ? error.message : String(error);
}
