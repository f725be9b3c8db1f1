import { INITIAL_SCHEMA } from "./0001-initial.js";
import { CLUSTER_SCHEMA } from "./0002-cluster.js";
import { SCHEDULE_REVISION } from "./0003-schedule-revision.js";

/**
 * Every migration of the PostgreSQL store, in order: version n is `MIGRATIONS[n - 1]`. Append only; a migration
 * once released is never edited (a database records the versions it has applied in `sluice_schema`).
 */
export const MIGRATIONS: readonly string[] = [INITIAL_SCHEMA, CLUSTER_SCHEMA, SCHEDULE_REVISION];
