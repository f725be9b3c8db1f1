import { Command } from "commander";
import { readFileSync } from "node:fs";
import { ENV, loadConfig, type ConfigFlags } from "./config.js";
import { banner, startServer } from "./server.js";

async function run(mode: "dev" | "serve", flags: ConfigFlags): Promise<void> {
  const config = loadConfig(mode, flags, process.env);
  const server = await startServer(config);
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
}

async function migrateOnly(flags: ConfigFlags): Promise<void> {
  // Dev mode only because it needs no users: the database setting is the one read here.
  const { databaseUrl } = loadConfig("dev", { database: flags.database, config: flags.config, memory: true }, process.env);
  if (databaseUrl === undefined) throw new Error(`sluice migrate needs --database postgres://… or ${ENV.databaseUrl}`);
  const { migrateDatabase } = await import("./store/postgres/pg-store.js");
  const { schema, from, to } = await migrateDatabase(databaseUrl);
  console.log(from === to ? `schema "${schema}" is up to date (version ${to})` : `schema "${schema}" migrated from version ${from} to ${to}`);
}

/** The version in package.json: one folder up from src/cli.ts in a checkout, two from dist/src/cli.js. */
function packageVersion(): string {
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "sluice" && pkg.version) return pkg.version;
    } catch {
      // Not this one: try the next folder up.
    }
  }
  return "unknown";
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
    .command("migrate")
    .description("apply the PostgreSQL store's schema migrations, then exit (serve and dev also apply them at start)")
    .option("--database <url>", "the database (default $SLUICE_DATABASE_URL)")
    .option("-c, --config <file>", "JSON configuration file")
    .action((opts: ConfigFlags) => migrateOnly(opts));
  await program.parseAsync(argv);
}
