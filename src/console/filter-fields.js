/** The message filters the API shares between the log and the DLQ (DECISIONS #20), under the API's own names. */
export const MESSAGE_FILTERS = [
  { name: "messageId" },
  { name: "url", placeholder: "https://…" },
  { name: "urlGroup", label: "URL group" },
  { name: "endpointName" },
  { name: "queueName" },
  { name: "scheduleId" },
  { name: "label" },
  { name: "flowControlKey" },
];

/** Filters every list endpoint takes the same way; dates are turned into unix ms by `toApiDates`. */
export const ORIGIN_FILTERS = [
  { name: "callerIp" },
  { name: "host" },
  { name: "path" },
  { name: "fromDate", type: "datetime-local" },
  { name: "toDate", type: "datetime-local" },
];

export const ORDER_FILTER = { name: "order", options: ["desc", "asc"] };
