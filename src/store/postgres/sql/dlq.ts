/** Statements on `dlq`. Entries are read joined with their message (entry columns prefixed `r_`). */
import { MESSAGE_COLUMNS } from "./messages.js";

export const DLQ_COLUMNS = `r.seq AS r_seq, r.dlq_id AS r_dlq_id, r.created_ms AS r_created_ms, r.response_status AS r_response_status,
  r.detail AS r_detail, r.response_body AS r_response_body, ${MESSAGE_COLUMNS}`;
export const DLQ_WITH_MESSAGES = `dlq r JOIN messages m ON m.id = r.message_id LEFT JOIN bodies b ON b.id = m.body_id`;

/** $1 dlq_id, $2 user_id, $3 message_id, $4 created_ms, $5 response_status, $6 detail, $7 response_body */
export const INSERT_DLQ = `INSERT INTO dlq (dlq_id, user_id, message_id, created_ms, response_status, detail, response_body)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`;

/** $1 user_id, $2 dlq_id → a row when the entry was there */
export const DELETE_DLQ = `DELETE FROM dlq WHERE user_id = $1 AND dlq_id = $2 RETURNING seq`;

/** $1 user_id, $2 dlq_id */
export const GET_DLQ = `SELECT ${DLQ_COLUMNS} FROM ${DLQ_WITH_MESSAGES} WHERE r.user_id = $1 AND r.dlq_id = $2`;
