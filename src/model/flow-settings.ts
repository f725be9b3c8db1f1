/** A flow-control key's settings set through the API (pause, pins) and what an unpin holds: kept across restarts. */
export interface FlowSettings {
  paused: boolean;
  pinnedParallelism?: number;
  pinnedRate?: { rate: number; periodSec: number };
  heldParallelism?: number;
  heldRate?: { rate: number; periodSec: number };
  heldSinceMs?: number;
}
