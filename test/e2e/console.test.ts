import { mkdirSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, type TestBrowser } from "../helpers/browser.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

/**
 * The console in a real headless Chromium against a real Sluice. Screenshots go to docs/console/ when
 * SAVE_CONSOLE_SCREENSHOTS=1 (to refresh the README's pictures), otherwise to a temporary folder.
 */
const shots = process.env.SAVE_CONSOLE_SCREENSHOTS === "1" ? join(import.meta.dirname, "../../docs/console") : mkdtempSync(join(tmpdir(), "console-shots-"));
mkdirSync(shots, { recursive: true });

let sluice: TestSluice;
let dest: TestReceiver;
let host: WorkflowHost;
/** Each test awaits the browser, so a missing Chromium fails every test with its message instead of skipping them. */
let browser: Promise<TestBrowser>;
const pageErrors: Error[] = [];

beforeAll(async () => {
  sluice = await startSluice();
  dest = await TestReceiver.start();
  // /flaky fails its first request and succeeds after, so a DLQ retry is seen to deliver.
  dest.respond = (req) =>
    req.path === "/flaky" && dest.at("/flaky").length === 1 ? { status: 500, body: "boom" } : { status: 200, body: '{"ok":true}' };
  host = await WorkflowHost.start(sluice);
  browser = launchBrowser();
  browser.then(({ page }) => page.on("pageerror", (err) => pageErrors.push(err)), () => {});
}, 60_000);

afterAll(async () => {
  await browser?.then((b) => b.close(), () => {});
  await host?.close();
  await dest?.close();
  await sluice?.close();
});

describe("the web console in a browser", () => {
  it("signs in as a dev user and shows the overview", async () => {
    const { page } = await browser;
    await page.goto(`${sluice.url}/console`);
    // A wrong token is refused where it was typed, and nothing is kept.
    await page.getByLabel("Token").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").getByText("That token was refused: invalid token").waitFor();
    await page.getByRole("button", { name: "defaultUser" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.getByText("Attempts in flight").waitFor();
  });

  it("shows a published message and its delivered attempt", async () => {
    const { page } = await browser;
    const { messageId } = await sluice.client().publishJSON({ url: dest.url("/hello"), body: { hello: "console" } });
    await dest.waitFor(1);
    await page.goto(`${sluice.url}/console#/messages`);
    await page.getByRole("link", { name: messageId }).first().click();
    await page.getByRole("heading", { name: messageId }).waitFor();
    await page.getByText("Attempt 1").waitFor();
    const attempt = page.locator(".timeline li").first();
    await expect(attempt.textContent()).resolves.toContain("HTTP 200");
    await expect(attempt.textContent()).resolves.toContain("DELIVERED");
    // The response body preview and the message body, both JSON pretty-printed.
    await expect(attempt.locator("pre.body").textContent()).resolves.toContain('"ok": true');
    const body = page.locator("section.card").filter({ has: page.getByRole("heading", { name: "Body", exact: true }) });
    await expect(body.locator("pre.body").textContent()).resolves.toContain('"hello": "console"');
    await page.screenshot({ path: join(shots, "message.png") });
    await page.goto(`${sluice.url}/console#/messages`);
    await page.getByRole("link", { name: messageId }).first().waitFor();
    await page.screenshot({ path: join(shots, "messages.png") });
  });

  it("retries a DLQ entry after a confirmation that says how many entries it touches", async () => {
    const { page } = await browser;
    const client = sluice.client();
    const { messageId } = await client.publish({ url: dest.url("/flaky"), body: "payload", retries: 0 });
    const entry = await eventually(async () => (await client.dlq.listMessages({ filter: { messageId } })).messages[0]);
    await page.goto(`${sluice.url}/console#/dlq`);
    await page.getByRole("checkbox", { name: `Select ${entry.dlqId}` }).check();
    await page.screenshot({ path: join(shots, "dlq.png") });
    await page.getByRole("button", { name: "Retry selected" }).click();
    const dialog = page.getByRole("dialog");
    await expect(dialog.textContent()).resolves.toContain("Retry 1 DLQ entry?");
    await dialog.getByRole("button", { name: "Retry selected" }).click();
    await page.getByText("The DLQ is empty").waitFor();
    // The retry is a new message that reached the destination, and the entry is gone.
    await dest.waitFor(3);
    expect(dest.at("/flaky")).toHaveLength(2);
    expect((await client.dlq.listMessages()).messages).toHaveLength(0);
  });

  it("pauses and resumes a flow-control key", async () => {
    const { page } = await browser;
    const client = sluice.client();
    const key = "console-key";
    await client.publish({ url: dest.url("/flow"), body: "x", flowControl: { key, parallelism: 2 } });
    await page.goto(`${sluice.url}/console#/flow-control`);
    const row = page.locator(`tr[data-key="${key}"]`);
    await row.getByRole("button", { name: "Pause" }).click();
    await row.getByText("paused").waitFor();
    expect((await client.flowControl.get(key)).isPaused).toBe(true);
    await page.screenshot({ path: join(shots, "flow-control.png") });
    await row.getByRole("button", { name: "Resume" }).click();
    await row.getByText("running").waitFor();
    expect((await client.flowControl.get(key)).isPaused).toBe(false);
  });

  it("opens a workflow run and shows its parallel steps side by side", async () => {
    const { page } = await browser;
    const url = host.add("/parallel", async (ctx) => {
      const first = await ctx.run("prepare", () => "ready");
      const [a, b] = await Promise.all([ctx.run("left", () => `${first}-a`), ctx.run("right", () => `${first}-b`)]);
      return `${a}+${b}`;
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    await waitForRun(client, workflowRunId, ["RUN_SUCCESS"], 15_000);
    await page.goto(`${sluice.url}/console#/workflows`);
    await page.getByRole("link", { name: workflowRunId }).click();
    await page.getByRole("heading", { name: workflowRunId }).waitFor();
    const parallel = page.locator(".parallel-steps");
    await parallel.waitFor();
    await expect(parallel.locator(".step").count()).resolves.toBe(2);
    await expect(parallel.textContent()).resolves.toMatch(/left[\s\S]*right|right[\s\S]*left/);
    // Side by side: both branches start at the same height.
    const [left, right] = await parallel.locator(".step").evaluateAll((els) => els.map((e) => e.getBoundingClientRect().top));
    expect(Math.abs(left - right)).toBeLessThan(2);
    await expect(page.locator("section", { hasText: "Result" }).first().textContent()).resolves.toContain("ready-a+ready-b");
    await page.screenshot({ path: join(shots, "workflow-run.png"), fullPage: false });
  });

  it("overview counts what happened (screenshot after the other pages made traffic)", async () => {
    const { page } = await browser;
    await page.goto(`${sluice.url}/console#/overview`);
    await eventually(async () => Number(await page.locator('[data-total="delivered"]').textContent()) >= 3, 8000, 200);
    await page.screenshot({ path: join(shots, "overview.png") });
  });

  it("renders every other page, with its empty state, and a narrow window's menu", async () => {
    const { page } = await browser;
    for (const [route, heading, empty] of [
      ["schedules", "Schedules", "No schedules"],
      ["queues", "Queues", "No queues"],
      ["url-groups", "URL groups", "No URL groups"],
      ["workflow-dlq", "Workflow DLQ", "No failed runs"],
    ]) {
      await page.goto(`${sluice.url}/console#/${route}`);
      await page.getByRole("heading", { name: heading }).waitFor();
      await page.getByText(empty).waitFor();
    }
    await page.goto(`${sluice.url}/console#/keys`);
    await page.getByText("QSTASH_CURRENT_SIGNING_KEY").waitFor();
    await page.setViewportSize({ width: 420, height: 800 });
    try {
      await expect(page.locator("nav").isVisible()).resolves.toBe(false);
      await page.getByRole("button", { name: "Menu" }).click();
      await page.getByRole("link", { name: "Queues" }).click();
      await page.getByRole("heading", { name: "Queues" }).waitFor();
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  it("raised no script error on any page", async () => {
    await browser;
    expect(pageErrors.map((e) => e.message)).toEqual([]);
  });
});
