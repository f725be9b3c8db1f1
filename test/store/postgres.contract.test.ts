import { afterAll } from "vitest";
import { PgStore } from "../../src/store/postgres/pg-store.js";
import { dropSchema, schemaUrl } from "../helpers/postgres.js";
import { runStoreContract } from "./contract.js";

const made: string[] = [];
afterAll(async () => {
  for (const url of made) await dropSchema(url);
});

runStoreContract("PostgreSQL", async () => {
  const url = schemaUrl();
  made.push(url);
  return PgStore.open(url);
});
