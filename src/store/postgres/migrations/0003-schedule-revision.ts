/**
 * A schedule's revision (StoredSchedule.revision): a new value on every create, replace, pause or resume, which a
 * tick is fenced on with its next_ms, so a schedule replaced on another node that keeps the same next tick fires
 * that tick in its new version only. Schedules stored before have '' until they are next written.
 */
export const SCHEDULE_REVISION = `
ALTER TABLE schedules ADD COLUMN revision text COLLATE "C" NOT NULL DEFAULT '';
`;
