/**
 * Payloads of nbtrack's REST API (`/nbtrack/api/...`), as `docs/rest-api.md`
 * describes them and `nbtrack/server/payloads.py` builds them.
 */

/** A metric value: NaN arrives as null, infinities as strings. */
export type MetricValue = number | 'Infinity' | '-Infinity' | null;

export type RunStatus =
  | 'RUNNING'
  | 'SCHEDULED'
  | 'FINISHED'
  | 'FAILED'
  | 'KILLED'
  | 'CRASHED';

export interface IRunError {
  type: string;
  message: string;
  traceback?: string | null;
}

/** One run in a listing. */
export interface IRunSummary {
  run_id: string;
  run_name: string;
  experiment_id: string;
  experiment_name: string | null;
  status: RunStatus;
  start_time: number;
  end_time: number | null;
  duration_ms: number | null;
  notebook_path: string | null;
  cell_id: string | null;
  execution_count: number | null;
  source: string | null;
  /** `text` is the value in nbtrack's one number format (absent from older servers). */
  headline: { key: string; value: MetricValue; text?: string } | null;
  metrics: Record<string, MetricValue>;
  /** Each metric as the views show it (`nbtrack.render.format_number`). */
  metrics_text?: Record<string, string>;
  /** The run's colour, from its id: the same in the compare view, static output and demo page. */
  color?: string;
  parent_run_id?: string | null;
  /** Up to 24 params (values cut to 200 characters); a run's details carry them all. */
  params?: Record<string, string>;
  /** Registered model versions made from this run (absent from older servers). */
  models?: IRunModelVersion[];
  /** Set on a sweep: the metric and goal its executions are sorted by. */
  sweep?: ISweepInfo;
  error: IRunError | null;
}

export interface IMetricSummary {
  last: MetricValue;
  last_step: number;
  last_timestamp: number;
  min: MetricValue;
  max: MetricValue;
  count: number;
  text?: { last: string; min: string; max: string };
}

export interface IDatasetInput {
  name: string;
  digest: string;
  source: string;
  source_type: string;
  context: string | null;
  shape: number[] | null;
  schema: Record<string, string> | null;
  profile: Record<string, unknown> | null;
}

export interface IArtifact {
  path: string;
  digest: string;
  size: number;
}

/** `GET store`: whether the notebook's directory has a store yet (always 200). */
export interface IStoreStatus {
  store: string;
  exists: boolean;
}

/** `GET runs/<run_id>`. */
export interface IRunDetail extends IRunSummary {
  params: Record<string, string>;
  tags: Record<string, string>;
  metric_summaries: Record<string, IMetricSummary>;
  inputs: IDatasetInput[];
  artifacts: IArtifact[];
  snapshot_path: string | null;
  code: string | null;
  previous_run_id: string | null;
  parent_run_id: string | null;
  user_id: string | null;
  host: string | null;
}

/** `GET runs`. */
export interface IRunsPage {
  runs: IRunSummary[];
  total: number;
  offset: number;
  limit: number;
}

export interface IExperiment {
  experiment_id: string;
  name: string;
  creation_time: number | null;
  run_count: number;
  last_run_time: number | null;
}

/** `GET experiments`. */
export interface IExperiments {
  experiments: IExperiment[];
}

/** `GET cells/<cell_id>/runs`: newest first, each with the code it ran. */
export interface ICellRuns {
  cell_id: string;
  runs: (IRunSummary & { code: string | null })[];
}

/** `POST cells`: badge data for the cells that have runs. */
export interface ICellsSummary {
  cells: Record<string, { run: IRunSummary; run_count: number }>;
}

/** `GET runs/<run_id>/metric-history`. */
export interface IMetricHistory {
  run_id: string;
  key: string;
  total_points: number;
  downsampled: boolean;
  points: { step: number; value: MetricValue; timestamp: number }[];
}

/**
 * The kind of an error answer, as the server names it in the body's `code`. The
 * frontend switches on this, never on message text. The last two are the client's:
 * `unreachable` (no answer at all) and `extension_missing` (Jupyter's own 404 page:
 * the server half of nbtrack is not installed).
 */
export type ErrorCode =
  | 'no_store'
  | 'bad_filter'
  | 'bad_request'
  | 'not_found'
  | 'forbidden'
  | 'store_error'
  | 'timeout'
  | 'internal'
  | 'unreachable'
  | 'extension_missing';

export const SERVER_ERROR_CODES: readonly ErrorCode[] = [
  'no_store',
  'bad_filter',
  'bad_request',
  'not_found',
  'forbidden',
  'store_error',
  'timeout',
  'internal'
];

/** Every error answer: one line saying what went wrong and how to fix it. */
export interface IErrorReply {
  message: string;
  /** Absent from servers older than the error codes; see `request.ts` for the fallback. */
  code?: ErrorCode;
  reason?: string | null;
}

/** The message the kernel side (`nbtrack.capture.frontend`) expects on the context comm. */
export interface IFrontendContext {
  notebook_path: string;
  notebook_content: unknown;
  cell_id: string;
  /** The server's root directory (absolute, maybe "~/..."): notebook_path is relative to it. */
  server_root: string | null;
}

export const CONTEXT_COMM_TARGET = 'nbtrack.context';

/** Comm target the kernel opens to insert a cell below the active one (compare's restore). */
export const INSERT_COMM_TARGET = 'nbtrack.insert_cell';

/** A registered version of a model, as a runs-list row carries it (the "model v3 @champion" badge). */
export interface IRunModelVersion {
  name: string;
  version: number;
  aliases: string[];
}

/** How a sweep (a run whose children are its executions) orders them. */
export interface ISweepInfo {
  metric: string | null;
  goal: 'maximize' | 'minimize' | null;
}

/** One version in `GET models`. */
export interface IModelVersion {
  version: number;
  stage: string;
  aliases: string[];
  run_id: string | null;
  run_name: string | null;
  source: string | null;
  creation_time: number;
  description: string | null;
  user_id: string | null;
  metrics_text: Record<string, string>;
}

/** One alias or stage move; a null `version` means the alias was removed. */
export interface IRegistryEvent {
  kind: 'alias' | 'stage';
  alias: string | null;
  version: number | null;
  previous_version: number | null;
  stage: string | null;
  previous_stage: string | null;
  time: number;
  user_id: string | null;
}

export interface IRegisteredModel {
  name: string;
  description: string | null;
  creation_time: number;
  last_updated_time: number;
  tags: Record<string, string>;
  aliases: Record<string, number>;
  versions: IModelVersion[];
  /** Newest first, at most 50. */
  history: IRegistryEvent[];
}

/** `GET models`. */
export interface IModels {
  models: IRegisteredModel[];
  stages: string[];
}

/** `GET runs/<run_id>/models`: folders holding a logged model, and the run's registered versions. */
export interface IRunModels {
  run_id: string;
  logged_models: string[];
  versions: IRunModelVersion[];
}

/** `GET runs/<run_id>/jobs`: what the run offers. */
export interface IJobOptions {
  run_id: string;
  reproduce: boolean;
  rerun: { notebook: string; parameters: Record<string, string> } | null;
  rerun_unavailable: string | null;
  is_job: boolean;
}

export interface IMetricComparison {
  metric: string;
  original: string | null;
  reproduced: string | null;
  difference: string | null;
  verdict: string;
}

/** `GET jobs/<job_id>` (and each of `GET jobs`). */
export interface IJob {
  job_id: string;
  kind: 'reproduce' | 'run';
  store: string;
  run_id: string;
  label: string;
  state: 'queued' | 'running' | 'finished' | 'failed';
  created: number;
  started: number | null;
  ended: number | null;
  new_run_id: string | null;
  result: {
    new_run_id?: string | null;
    status?: string;
    error?: string | null;
    verdict?: string;
    matched?: boolean;
    metrics?: IMetricComparison[];
    params?: { param: string; original: string | null; reproduced: string | null }[];
    metrics_text?: Record<string, string>;
  };
  error: string | null;
}
