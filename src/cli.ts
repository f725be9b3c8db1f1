import { Command } from "commander";
import { resolve } from "node:path";
import { ENV, loadConfig, type ConfigFlags } from "./config.js";
import { packageVersion } from "./package-version.js";
import { banner, startServer } from "./server.js";
import { backupDataFolder } from "./store/sqlite/backup.js";

/** Wait between tries to start again after a lost lease (the database may be what is unreachable). */
const RESTART_RETRY_MS = 1000;

async function run(mode: "dev" | "serve", flags: ConfigFlags): Promise<void> {
  let config = loadConfig(mode, flags, process.env);
  let server = await startServer(config);
  console.log(banner(server));
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping; attempts in flight finish first`);
    await server.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // A node of a cluster that lost its lease has had its work taken over: it starts again as a new node, on the
  // same address, rather than exit (nothing supervises a `sluice serve` in a terminal).
  for (;;) {
    const reason = await server.lost;
    if (stopping) return;
    server.app.log.warn({ node: server.node?.nodeId, reason }, `node ${server.node?.nodeId} lost its lease (${reason}); restarting as a new node`);
    await server.abandon();
    config = { ...config, port: server.port };
    for (;;) {
      if (stopping) return;
      try {
        server = await startServer(config);
        break;
      } catch (err) {
        console.error(`could not start again yet: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, RESTART_RETRY_MS));
      }
    }
    console.log(`started again as node ${server.node?.nodeId} at ${server.url}`);
  }
}

async function migrateOnly(flags: ConfigFlags): Promise<void> {
  // Dev mode only because it needs no users: the database setting is the one read here.
  const { databaseUrl } = loadConfig("dev", { database: flags.database, config: flags.config, memory: true }, process.env);
  if (databaseUrl === undefined) throw new Error(`sluice migrate needs --database postgres://… or ${ENV.databaseUrl}`);
  const { migrateDatabase } = await import("./store/postgres/pg-store.js");
  const { schema, from, to } = await migrateDatabase(databaseUrl);
  console.log(from === to ? `schema "${schema}" is up to date (version ${to})` : `schema "${schema}" migrated from version ${from} to ${to}`);
}

/** The `sluice` command line. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name("sluice")
    .description("Self-hosted QStash-compatible message queue, scheduler and workflow server")
    .version(packageVersion(), "-v, --version", "print the version and exit");
  const common = (cmd: Command): Command =>
    cmd
      .option("-p, --port <port>", "port to listen on (default 8080)")
      .option("-H, --host <host>", "address to listen on")
      .option("-d, --data <dir>", "folder for the embedded store (default ./.sluice)")
      .option("--memory", "keep everything in memory (nothing is written to disk)")
      .option("--database <url>", "keep everything in PostgreSQL (postgres://…[?schema=name]) instead of SQLite")
      .option("-c, --config <file>", "JSON configuration file");
  common(program.command("dev"))
    .description("development server: the four well-known dev users, every destination allowed")
    .action((opts: ConfigFlags) => run("dev", opts));
  common(program.command("serve"))
    .description("production server: users from configuration, private destinations denied unless allowed")
    .action((opts: ConfigFlags) => run("serve", opts));
  program
    .command("backup")
    .description("copy the embedded store of a data folder to a file, online: the server may keep running")
    .requiredOption("-d, --data <dir>", "the data folder to back up")
    .requiredOption("-o, --to <file>", "the backup file to write (must not exist)")
    .action(async (opts: { data: string; to: string }) => {
      const { pages } = await backupDataFolder(resolve(opts.data), resolve(opts.to));
      console.log(`backed up ${resolve(opts.data)} to ${resolve(opts.to)} (${pages} pages)`);
    });
  program
    .command("migrate")
    .description("apply the PostgreSQL store's schema migrations, then exit (serve and dev also apply them at start)")
    .option("--database <url>", "the database (default $SLUICE_DATABASE_URL)")
    .option("-c, --config <file>", "JSON configuration file")
    .action((opts: ConfigFlags) => migrateOnly(opts));
  await program.parseAsync(argv);
}
