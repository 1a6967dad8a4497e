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
  headline: { key: string; value: MetricValue } | null;
  metrics: Record<string, MetricValue>;
  error: IRunError | null;
}

export interface IMetricSummary {
  last: MetricValue;
  last_step: number;
  last_timestamp: number;
  min: MetricValue;
  max: MetricValue;
  count: number;
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

/** Every error answer: one line saying what went wrong and how to fix it. */
export interface IErrorReply {
  message: string;
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
