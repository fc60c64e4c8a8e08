// End-to-end test of the browser app: Debian's Chromium, driven by
// playwright-core, against the real binary on a temp database. It walks
// the path a person takes (register with a picture, a second login, edit,
// search, follow, page through followers, sessions, password, log out)
// and saves screenshots of the main screens in screenshots/ (or
// $SCREENSHOTS).
//
// The binary is $SOCIALAPI_BIN, or one built from the repository.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { deflateSync, crc32 } from 'node:zlib';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const shots = process.env.SCREENSHOTS || join(here, 'screenshots');
const password = 'Sup3r-Secret!x';
const fans = 25; // more than one page of followers (20 a page)

// pngFile is a width×height PNG with a colour gradient, as an upload.
function pngFile(width, height) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw.set([40 + (160 * x) / width, 90 + (120 * y) / height, 210], row + 1 + x * 3);
    }
  }
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const buffer = Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
  return { name: 'me.png', mimeType: 'image/png', buffer };
}

// startServer runs the binary on a free port and a fresh database.
async function startServer(dir) {
  let bin = process.env.SOCIALAPI_BIN;
  if (!bin) {
    bin = join(dir, 'socialapi');
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: join(here, '..'), stdio: 'inherit' });
  }
  const child = spawn(bin, ['-addr', '127.0.0.1:0', '-db', join(dir, 'db.sqlite3')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (b) => { log += b; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start:\n' + log)), 10_000);
    child.stdout.on('data', (b) => {
      out += b;
      const m = out.match(/listening on (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  return { url, child, log: () => log };
}

// apiCall talks to the API directly, for the users the test only needs to exist.
async function apiCall(base, method, path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Token ' + token;
  const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json();
  return { status: res.status, data };
}

async function register(base, username, bio = '') {
  const r = await apiCall(base, 'POST', '/api/accounts/register/',
    { username, email: `${username}@example.com`, password, password2: password, bio });
  assert.equal(r.status, 201, JSON.stringify(r.data));
  return r.data;
}

// watch fails the test on anything a page's policy refused and on any
// uncaught error in the app.
function watch(page, problems) {
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, name + '.png'), fullPage: true });
}

test('the browser app, end to end', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'socialapi-e2e-'));
  mkdirSync(shots, { recursive: true });
  const server = await startServer(dir);
  t.after(async () => {
    server.child.kill('SIGTERM');
    if (server.child.exitCode === null) await once(server.child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  });
  const base = server.url;
  // launch() starts Chromium with a fresh --user-data-dir of its own (it
  // refuses one in args); the rest keeps it off the network and quiet.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
  t.after(() => browser.close());

  const problems = [];
  const desktop = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  for (const ctx of [desktop, phone]) ctx.setDefaultTimeout(10_000);
  const a = await desktop.newPage();
  const b = await phone.newPage();
  watch(a, problems);
  watch(b, problems);
  let aliceID;

  await t.test('the page is served with a strict policy', async () => {
    const res = await a.goto(base + '/');
    const csp = res.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /style-src 'self';/);
    assert.match(csp, /frame-ancestors 'none'/);
    await a.getByRole('heading', { name: 'Log in' }).waitFor();
    assert.equal(new URL(a.url()).hash, '#/login');
  });

  await t.test('registering shows errors beside their fields, then creates the account with a picture', async () => {
    await a.getByRole('link', { name: 'Register' }).click();
    await a.getByRole('heading', { name: 'Register' }).waitFor();
    await a.getByLabel('Username').fill('alice');
    await a.getByLabel('Email').fill('not-an-email');
    await a.getByLabel('Password', { exact: true }).fill(password);
    await a.getByLabel('Password again').fill(password);
    await a.getByLabel('Bio (optional)').fill('First bio');
    await a.getByLabel('Picture (optional)').setInputFiles(pngFile(96, 96));
    await a.getByRole('button', { name: 'Register' }).click();
    const emailError = a.locator('#register-email-error');
    await emailError.waitFor();
    assert.equal(await emailError.textContent(), 'Enter a valid email address.');
    assert.equal(await a.getByLabel('Email').getAttribute('aria-invalid'), 'true');
    await shot(a, '01-register-error');

    await a.getByLabel('Email').fill('alice@example.com');
    await a.getByRole('button', { name: 'Register' }).click();
    await a.getByRole('heading', { name: 'Your profile' }).waitFor();
    const picture = a.getByRole('img', { name: 'Profile picture of alice' });
    await picture.waitFor();
    assert.equal(await picture.evaluate(async (img) => { await img.decode(); return img.naturalWidth; }), 96, 'the picture loads');
    const storage = await a.evaluate(() => [Object.keys(sessionStorage), localStorage.length]);
    assert.deepEqual(storage, [['socialapi.token'], 0], 'the token is in sessionStorage only');
    const me = await a.evaluate(async () => (await fetch('api/accounts/profile/', {
      headers: { Authorization: 'Token ' + sessionStorage.getItem('socialapi.token') },
    })).json());
    aliceID = me.id;
    await shot(a, '02-profile');
  });

  await t.test('a second context logs in with the keyboard and edits the bio', async () => {
    await b.goto(base + '/');
    await b.getByLabel('Username').waitFor();
    await b.getByLabel('Username').focus();
    await b.keyboard.type('alice');
    await b.keyboard.press('Tab');
    await b.keyboard.type('wrong password');
    await b.keyboard.press('Enter');
    await b.getByText('Unable to log in with provided credentials.').waitFor();
    await b.getByLabel('Password').fill(password);
    await b.keyboard.press('Enter');
    await b.getByRole('heading', { name: 'Your profile' }).waitFor();
    await b.getByLabel('Bio').fill('Hello from my phone');
    await b.getByRole('button', { name: 'Save' }).click();
    await b.getByText('Your profile is saved.').waitFor();
    await b.locator('.card .bio', { hasText: 'Hello from my phone' }).waitFor();
    await shot(b, '03-profile-phone');
  });

  // Other people, made through the API: bob, whose bio is markup that must
  // stay text, and fans who follow alice.
  const bob = await register(base, 'bob', '<img src=x onerror="window.pwned=1"><b>bold</b>');
  for (let i = 1; i <= fans; i++) {
    const fan = await register(base, `fan${String(i).padStart(2, '0')}`);
    assert.equal((await apiCall(base, 'POST', `/api/accounts/follow/${aliceID}/`, undefined, fan.token)).status, 200);
  }

  await t.test('search finds bob, whose bio is shown as text', async () => {
    await a.getByRole('link', { name: 'Search' }).click();
    await a.getByLabel('Username starts with').fill('bo');
    await a.getByRole('button', { name: 'Search' }).click();
    await a.getByRole('list', { name: 'Users starting with bo' }).getByRole('link', { name: 'bob' }).click();
    await a.getByRole('heading', { name: 'bob' }).waitFor();
    const bio = a.locator('.card .bio');
    assert.equal(await bio.textContent(), '<img src=x onerror="window.pwned=1"><b>bold</b>');
    assert.equal(await bio.locator('*').count(), 0, 'no element was made from the bio');
    assert.equal(await a.evaluate(() => window.pwned), undefined);
  });

  await t.test('following bob changes his count', async () => {
    await a.getByRole('link', { name: '0 followers', exact: true }).waitFor();
    await a.getByRole('button', { name: 'Follow bob' }).click();
    await a.getByRole('link', { name: '1 followers', exact: true }).waitFor();
    await a.getByRole('button', { name: 'Unfollow bob' }).waitFor();
    await a.getByText('You are now following bob.').waitFor();
    await shot(a, '04-user');
    const r = await apiCall(base, 'GET', `/api/accounts/users/${bob.user.id}/`, undefined, bob.token);
    assert.equal(r.data.followers_count, 1);
  });

  await t.test('the followers list pages along next links', async () => {
    await a.getByRole('link', { name: 'Profile' }).click();
    await a.getByRole('link', { name: '1 following', exact: true }).waitFor();
    await shot(a, '05-profile');
    await a.getByRole('link', { name: `${fans} followers`, exact: true }).click();
    const list = a.getByRole('list', { name: 'Followers of alice' });
    await a.getByText(`Showing 20 of ${fans}.`).waitFor();
    assert.equal(await list.getByRole('listitem').count(), 20);
    await a.getByRole('button', { name: 'Load more' }).click();
    await a.getByText(`Showing ${fans} of ${fans}.`).waitFor();
    assert.equal(await list.getByRole('listitem').count(), fans);
    assert.equal(await a.getByRole('button', { name: 'Load more' }).isHidden(), true);
    assert.equal(await a.evaluate(() => document.activeElement.textContent), 'fan05', 'focus moves to the first new user');
    await shot(a, '06-followers');
  });

  await t.test('revoking a session logs that context out', async () => {
    await a.getByRole('link', { name: 'Sessions' }).click();
    const sessions = a.getByRole('list', { name: 'Sessions' }).getByRole('listitem');
    await sessions.nth(1).waitFor();
    assert.equal(await sessions.count(), 2);
    await shot(a, '07-sessions');
    const other = sessions.filter({ hasNotText: 'This tab' });
    await other.getByRole('button', { name: /^Revoke session/ }).click();
    await a.getByText('The session is revoked.').waitFor();
    assert.equal(await sessions.count(), 1);

    await b.getByRole('link', { name: 'Search' }).click(); // any call with the revoked token
    await b.getByLabel('Username starts with').fill('fan');
    await b.getByRole('button', { name: 'Search' }).click();
    await b.getByRole('heading', { name: 'Log in' }).waitFor();
    await b.getByText('Your session has ended. Please log in again.').waitFor();
    assert.equal(await b.evaluate(() => sessionStorage.length), 0);
  });

  await t.test('too many failed logins show the wait in the banner', async () => {
    for (let i = 0; i < 11; i++) {
      await b.getByLabel('Username').fill('fan01');
      await b.getByLabel('Password').fill('not the password');
      const answer = b.waitForResponse((r) => r.url().endsWith('/api/accounts/login/'));
      await b.getByRole('button', { name: 'Log in' }).click();
      if ((await answer).status() !== 429) await b.getByRole('button', { name: 'Log in' }).and(b.locator(':enabled')).waitFor();
    }
    await b.getByRole('alert').getByText(/^Request was throttled\. Expected available in \d+ seconds?\.$/).waitFor();
    await shot(b, '08-throttled');
  });

  await t.test('changing the password keeps this session and checks the old one', async () => {
    await a.getByRole('link', { name: 'Password' }).click();
    await a.getByLabel('Current password').fill('wrong-old-password');
    await a.getByLabel('New password', { exact: true }).fill('N3w-Secret!pass');
    await a.getByLabel('New password again').fill('N3w-Secret!pass');
    await a.getByRole('button', { name: 'Change password' }).click();
    await a.getByText('Your old password was entered incorrectly. Please enter it again.').waitFor();
    await a.getByLabel('Current password').fill(password);
    await a.getByRole('button', { name: 'Change password' }).click();
    await a.getByText('Your password is changed. Every other session has ended.').waitFor();
    await a.getByRole('link', { name: 'Sessions' }).click();
    await a.getByRole('list', { name: 'Sessions' }).getByText('This tab').waitFor();
  });

  await t.test('logging out ends the token', async () => {
    const token = await a.evaluate(() => sessionStorage.getItem('socialapi.token'));
    await a.getByRole('button', { name: 'Log out', exact: true }).first().click();
    await a.getByRole('heading', { name: 'Log in' }).waitFor();
    await a.getByText('You have logged out.').waitFor();
    assert.equal(await a.evaluate(() => sessionStorage.length), 0);
    assert.equal((await apiCall(base, 'GET', '/api/accounts/profile/', undefined, token)).status, 401);
    await shot(a, '09-logged-out');
  });

  await t.test('a picture can be added and removed from the profile', async () => {
    await b.reload(); // the throttled form keeps its button off for the wait
    await b.getByLabel('Username').fill('bob');
    await b.getByLabel('Password').fill(password);
    await b.getByRole('button', { name: 'Log in' }).click();
    await b.getByRole('heading', { name: 'Your profile' }).waitFor();
    await b.getByLabel('New picture').setInputFiles(pngFile(40, 30));
    await b.getByRole('button', { name: 'Save' }).click();
    await b.getByRole('img', { name: 'Profile picture of bob' }).waitFor();
    assert.equal(await b.getByLabel('Bio').inputValue(), bob.user.bio, 'a picture alone leaves the bio');
    await b.getByRole('button', { name: 'Remove picture' }).click();
    await b.getByText('Your picture is removed.').waitFor();
    assert.equal(await b.getByRole('img').count(), 0);
  });

  await t.test('logging out everywhere ends every token', async () => {
    const other = await apiCall(base, 'POST', '/api/accounts/login/', { username: 'bob', password });
    await b.getByRole('link', { name: 'Sessions' }).click();
    await b.getByRole('button', { name: 'Log out everywhere' }).click();
    await b.getByText('You have logged out everywhere.').waitFor();
    assert.equal((await apiCall(base, 'GET', '/api/accounts/profile/', undefined, other.data.token)).status, 401);
  });

  assert.deepEqual(problems, []);
});
