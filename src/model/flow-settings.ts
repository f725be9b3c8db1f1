/** A flow-control key's settings set through the API (pause, pins) and what an unpin holds: kept across restarts. */
export interface FlowSettings {
  paused: boolean;
  pinnedParallelism?: number;
  pinnedRate?: { rate: number; periodSec: number };
  heldParallelism?: number;
  heldRate?: { rate: number; periodSec: number };
  heldSinceMs?: number;
  /**
   * When the key's rate window was last restarted through the API (a pin, a rate reset, a reset). The window
   * itself lives with whichever node dispatches the key; this tells that node a reset made on another one.
   */
  rateResetMs?: number;
}
