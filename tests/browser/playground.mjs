// Real-browser test of the GraphiQL playground: starts the server binary with a fresh RSA key,
// drives GraphiQL in headless Chromium, and fails on any request to another host, any console
// error and any Content-Security-Policy violation. Run through scripts/browser-test.
//
// CLERK_GRAPHQL_BIN: the server binary (default target/debug/clerk-graphql, from the repo root).

import { spawn } from 'node:child_process';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = resolve(ROOT, process.env.CLERK_GRAPHQL_BIN || 'target/debug/clerk-graphql');
const SCREENSHOT = join(ROOT, 'target/browser/playground.png');
const DEV_SCREENSHOT = join(ROOT, 'target/browser/playground-dev.png');
const ISSUER = 'https://clerk.browser-test.local';
const TIMEOUT_MS = 15_000;

const ADMIN_QUERY = '{ viewer { userId role } adminNote { id text } }';
const ANONYMOUS_QUERY = '{ adminNote { id } }';

// A query without its comments, on one line, for comparing two spellings of it.
const normalised = (query) =>
  query
    .replace(/#.*$/gm, '')
    .replace(/\s+/g, ' ')
    .trim();

// The example query of the README's quick start: the playground's default in dev mode.
function readmeExampleQuery() {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const example = /the example query\s+`(\{[^`]+\})`/.exec(readme);
  if (!example) {
    throw new Error('README.md: the quick start\'s "the example query `{ … }`" is missing');
  }
  return example[1];
}

const base64url = (data) => Buffer.from(data).toString('base64url');

function signJwt(privateKey, claims) {
  const header = { alg: 'RS256', typ: 'JWT', kid: 'browser-test' };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(input).sign(privateKey);
  return `${input}.${base64url(signature)}`;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// The server, with a clean environment (nothing inherited, run from a temporary directory so
// that no .env is read).
// With `publicKey`, tokens signed by the test's own key are verified; without it, the server
// is in dev mode and mints its own (keys in `workdir/.dev`).
function startServer(port, workdir, publicKey) {
  const env = {
    APP_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: `sqlite://${workdir}/browser-${port}.db?mode=rwc`,
    DEV_KEYS_DIR: `${workdir}/.dev`,
    GRAPHQL_PLAYGROUND: 'true',
    RUST_LOG: 'warn',
    // Servers run side by side: none takes the default metrics port.
    METRICS_ADDR: 'off',
    ...(publicKey ? { CLERK_JWT_KEY: publicKey, CLERK_ISSUER: ISSUER } : {}),
  };
  const child = spawn(BIN, [], { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  const keep = (chunk) => output.push(chunk.toString());
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.exited = new Promise((done) => child.on('exit', (code, signal) => done(signal || code)));
  child.output = () => output.join('');
  return child;
}

async function waitForHealth(origin, server) {
  let exit = null;
  server.exited.then((status) => {
    exit = status;
  });
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exit !== null) {
      throw new Error(`the server exited (${exit}):\n${server.output()}`);
    }
    try {
      if ((await fetch(`${origin}/healthz`)).ok) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`no answer from ${origin}/healthz within ${TIMEOUT_MS} ms`);
}

// Replaces the content of the CodeMirror editor inside `container` as a user would: click, select
// all, type. insertText, not type(): CodeMirror would auto-close every typed bracket.
async function fillEditor(page, container, text) {
  await page.locator(`${container} .CodeMirror`).click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  if (text) {
    await page.keyboard.insertText(text);
  }
}

async function editorText(page, container) {
  return page
    .locator(`${container} .CodeMirror`)
    .evaluate((editor) => editor.CodeMirror.getValue());
}

// Lines of the CodeMirror editor inside `container` that end beyond its visible right edge, so
// that a reader of the window would see them cut off.
async function linesCutOff(page, container) {
  return page.locator(`${container} .CodeMirror`).evaluate((editor) => {
    const right = editor.getBoundingClientRect().right;
    return [...editor.querySelectorAll('.CodeMirror-line > span')]
      .filter((line) => line.getBoundingClientRect().right > right)
      .map((line) => line.textContent);
  });
}

async function run(page, expected) {
  await page.locator('.graphiql-execute-button').click();
  const response = page.locator('.graphiql-response');
  for (const text of expected) {
    await response.filter({ hasText: text }).waitFor({ timeout: TIMEOUT_MS });
  }
  return response.innerText();
}

async function main() {
  const failures = [];
  const workdir = mkdtempSync(join(tmpdir(), 'clerk-graphql-browser-'));
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const origin = `http://${host}`;
  let server = null;
  let devServer = null;
  const ownHosts = new Set([host]);
  let context = null;
  let page = null;
  try {
    server = startServer(port, workdir, publicKey);
    await waitForHealth(origin, server);

    const now = Math.floor(Date.now() / 1000);
    const token = signJwt(privateKey, {
      sub: 'user_browser_1',
      sid: 'sess_browser_1',
      iss: ISSUER,
      iat: now,
      nbf: now - 5,
      exp: now + 600,
      v: 2,
      metadata: { role: 'admin' },
    });

    context = await chromium.launchPersistentContext(join(workdir, 'chromium-profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });

    // Every request of the pages must stay on the servers under test.
    const offsite = (url) => {
      const parsed = new URL(url);
      return parsed.protocol !== 'data:' && !ownHosts.has(parsed.host);
    };
    context.on('request', (request) => {
      if (offsite(request.url())) {
        failures.push(`request to another host: ${request.method()} ${request.url()}`);
      }
    });
    // CSP violations: reported by the page itself (Chromium also logs them as console errors).
    await context.exposeFunction('reportCspViolation', (violation) => {
      failures.push(`CSP violation: ${violation}`);
    });
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        window.reportCspViolation(
          `${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} ` +
            `(${event.sourceFile}:${event.lineNumber})`,
        );
      });
    });

    page = context.pages()[0] ?? (await context.newPage());
    page.on('websocket', (socket) => {
      if (offsite(socket.url())) {
        failures.push(`WebSocket to another host: ${socket.url()}`);
      }
    });
    page.on('console', (message) => {
      if (message.type() === 'error') {
        failures.push(`console error: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));

    const response = await page.goto(`${origin}/graphql`, { waitUntil: 'load' });
    if (!response.headers()['content-security-policy']) {
      failures.push('the page has no Content-Security-Policy header');
    }
    await page.locator('.graphiql-container').waitFor({ timeout: TIMEOUT_MS });
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ timeout: TIMEOUT_MS });
    // The headers editor: visible, and empty without a development token.
    const headers = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';
    await page.locator(`${headers} .CodeMirror`).waitFor({ timeout: TIMEOUT_MS });
    const initialHeaders = (await editorText(page, headers)).trim();
    if (initialHeaders !== '') {
      failures.push(`the headers editor is not empty: ${initialHeaders}`);
    }
    if (await page.locator('#notice').isVisible()) {
      failures.push('a dev-mode notice is shown without dev mode');
    }
    for (const line of await linesCutOff(page, '.graphiql-query-editor')) {
      failures.push(`the default query's line is cut off at 1400 px: ${line}`);
    }

    // Anonymous: the admin note is refused.
    await fillEditor(page, '.graphiql-query-editor', ANONYMOUS_QUERY);
    const anonymous = await run(page, ['UNAUTHENTICATED']);
    console.log(`anonymous ${ANONYMOUS_QUERY}: UNAUTHENTICATED shown`);
    if (anonymous.includes('"text"')) {
      failures.push(`admin note served to an anonymous user: ${anonymous}`);
    }

    // Signed in as an admin through the headers editor.
    await fillEditor(page, headers, JSON.stringify({ Authorization: `Bearer ${token}` }));
    await fillEditor(page, '.graphiql-query-editor', ADMIN_QUERY);
    const admin = await run(page, ['user_browser_1', 'the admin note']);
    console.log(`admin ${ADMIN_QUERY}: user_browser_1 and the admin note shown`);
    for (const unexpected of ['FORBIDDEN', 'UNAUTHENTICATED']) {
      if (admin.includes(unexpected)) {
        failures.push(`the admin query answered ${unexpected}: ${admin}`);
      }
    }

    // The inline styles the CSP allows on purpose: a dialog injects a <style> element,
    // CodeMirror's jump-to-line box has style attributes. Both must open without a violation.
    await page.locator('[aria-label="Open settings dialog"]').click();
    await page.locator('.graphiql-dialog').waitFor({ timeout: TIMEOUT_MS });
    await page.keyboard.press('Escape');
    await page.locator('.graphiql-dialog').waitFor({ state: 'detached', timeout: TIMEOUT_MS });
    await page.locator('.graphiql-query-editor .CodeMirror').click();
    await page.keyboard.press('Alt+G');
    await page.locator('.CodeMirror-dialog').waitFor({ timeout: TIMEOUT_MS });
    await page.keyboard.press('Escape');
    await page.locator('.CodeMirror-dialog').waitFor({ state: 'detached', timeout: TIMEOUT_MS });

    // Development mode, for real: a second server with no Clerk key at all mints a dev token
    // per page load; the page pre-fills it and says so, and a guarded query works at once.
    const devPort = await freePort();
    const devOrigin = `http://localhost:${devPort}`;
    ownHosts.add(`localhost:${devPort}`);
    devServer = startServer(devPort, workdir, null);
    await waitForHealth(`http://127.0.0.1:${devPort}`, devServer);
    const devPage = await context.newPage();
    devPage.on('console', (message) => {
      if (message.type() === 'error') {
        failures.push(`console error (dev mode): ${message.text()}`);
      }
    });
    devPage.on('pageerror', (error) => failures.push(`page error (dev mode): ${error.message}`));
    mkdirSync(dirname(DEV_SCREENSHOT), { recursive: true });
    await devPage.goto(`${devOrigin}/graphql`, { waitUntil: 'load' });
    await devPage.locator(`${headers} .CodeMirror`).waitFor({ timeout: TIMEOUT_MS });
    const prefilled = await editorText(devPage, headers);
    if (!/^Bearer ey/.test(JSON.parse(prefilled).Authorization || '')) {
      failures.push(`dev mode: the headers editor holds ${prefilled}`);
    }
    if (!(await devPage.locator('#notice', { hasText: 'development token' }).isVisible())) {
      failures.push('dev mode: the notice is not visible');
    }
    // The README's example query is already there, readable, and runs as it is.
    await devPage.locator('.graphiql-query-editor .CodeMirror').waitFor({ timeout: TIMEOUT_MS });
    const defaultQuery = await editorText(devPage, '.graphiql-query-editor');
    const readmeQuery = readmeExampleQuery();
    if (normalised(defaultQuery) !== normalised(readmeQuery)) {
      failures.push(`dev mode: the default query is not the README's ${readmeQuery}:\n${defaultQuery}`);
    }
    for (const line of await linesCutOff(devPage, '.graphiql-query-editor')) {
      failures.push(`dev mode: the default query's line is cut off at 1400 px: ${line}`);
    }
    const devResult = await run(devPage, ['user_dev_1', 'the admin note', 'dev@example.com']);
    if (devResult.includes('FORBIDDEN') || devResult.includes('UNAUTHENTICATED')) {
      failures.push(`dev mode: the default query answered an error: ${devResult}`);
    }
    console.log(
      'dev mode: dev token pre-filled, notice shown, the README query by default, ' +
        'user_dev_1, the admin note and dev@example.com shown',
    );
    await devPage.screenshot({ path: DEV_SCREENSHOT, fullPage: true });
    await devPage.close();

    // shouldPersistHeaders: false: the token is not left in localStorage.
    const stored = await page.evaluate(() => JSON.stringify(window.localStorage));
    if (stored.includes(token)) {
      failures.push('the token was persisted in localStorage');
    }
  } catch (error) {
    failures.push(error.stack || String(error));
  } finally {
    if (page) {
      try {
        mkdirSync(dirname(SCREENSHOT), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        console.log(`screenshot: ${SCREENSHOT}`);
      } catch (error) {
        console.error(`no screenshot: ${error.message}`);
      }
    }
    if (context) {
      await context.close().catch(() => {});
    }
    for (const child of [server, devServer]) {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        if ((await Promise.race([child.exited, sleep(5_000).then(() => 'timeout')])) === 'timeout') {
          child.kill('SIGKILL');
        }
      }
    }
    rmSync(workdir, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    console.error(`browser test FAILED:\n- ${failures.join('\n- ')}`);
    for (const child of [server, devServer]) {
      if (child) {
        console.error(`server output:\n${child.output()}`);
      }
    }
    process.exit(1);
  }
  console.log('browser test passed');
}

await main();
