import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { runStoreContract } from "./contract.js";

runStoreContract("SQLite (in memory)", async () => new SqliteStore());
