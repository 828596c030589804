// Driving the VS Code workbench (served by code-server) in headless Debian Chromium with playwright-core.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { CHROMIUM, DOCS_SHOTS, LOG_DIR, OUT_DIR, makeTemp } from './paths.mjs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export async function launchBrowser() {
  const home = makeTemp('inheritune-chromium-');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    // keep crashpad/dconf/fontconfig caches out of ~
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: `${home}/config`, XDG_CACHE_HOME: `${home}/cache` },
  });
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Workbench {
  /** Open a workbench window on `url` in a fresh browser context and wait until the Explorer shows `folder`. */
  static async open(browser, url, { name, expectRow } = {}) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const wb = new Workbench(context, page, name ?? 'workbench');
    await page.goto(url);
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    if (expectRow) await wb.explorerRow(expectRow).waitFor({ timeout: 90_000 });
    return wb;
  }

  constructor(context, page, name) {
    this.context = context;
    this.page = page;
    this.name = name;
    fs.mkdirSync(LOG_DIR, { recursive: true });
    this.logFile = path.join(LOG_DIR, `browser-${name}.log`);
    fs.writeFileSync(this.logFile, '');
    const logLine = (s) => fs.appendFileSync(this.logFile, `${new Date().toISOString()} ${s}\n`);
    page.on('pageerror', (e) => logLine(`PAGEERROR ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') logLine(`console.${m.type()} ${m.text().slice(0, 500)}`);
    });
  }

  async close() {
    await this.context.close().catch(() => {});
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Explorer

  /** The Explorer row whose label is exactly `name`. */
  explorerRow(name) {
    return this.page
      .locator('.explorer-folders-view .monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(name)}$`) }) })
      .first();
  }

  /**
   * Right-click `row` and choose `item`. The first right-click may open the menu before the extension's
   * contributions arrive, so retry with Escape in between; a plain click on a menu item is ignored (mouseup
   * arrives too fast), so hover, pause, then press and release.
   */
  async contextMenu(row, item, { timeoutMs = 30_000 } = {}) {
    const entry = this.page.getByRole('menuitem', { name: item, exact: true });
    const end = Date.now() + timeoutMs;
    for (;;) {
      await row.click({ button: 'right' });
      try {
        await entry.waitFor({ timeout: 2000 });
        break;
      } catch (e) {
        await this.page.keyboard.press('Escape');
        if (Date.now() > end) {
          throw new Error(`context menu has no "${item}" (menu items: ${await this.menuItems()})`, { cause: e });
        }
      }
    }
    await this.clickMenuItem(entry);
  }

  async menuItems() {
    await this.page
      .getByRole('menuitem')
      .first()
      .waitFor({ timeout: 1000 })
      .catch(() => {});
    const names = await this.page
      .getByRole('menuitem')
      .allInnerTexts()
      .catch(() => []);
    return names.map((s) => s.split('\n')[0]).join(' | ');
  }

  async clickMenuItem(entry) {
    await entry.hover();
    await this.page.waitForTimeout(250);
    await this.page.mouse.down();
    await this.page.mouse.up();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Quick input: command palette, quick picks, input boxes, the simple file dialog

  get quickInput() {
    return this.page.locator('.quick-input-widget');
  }

  get quickInputBox() {
    return this.page.locator('.quick-input-widget .quick-input-box input');
  }

  /** Run a command from the palette by its full title ("Category: Title"). */
  async palette(title, { timeoutMs = 30_000 } = {}) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      await this.page.keyboard.press('F1');
      try {
        await this.quickInputBox.waitFor({ state: 'visible', timeout: 3000 });
      } catch (e) {
        // F1 can be swallowed when focus sits in a webview or terminal, or while another quick input is closing:
        // give the workbench focus back and try again until the deadline.
        if (Date.now() > end) throw e;
        await this.page.keyboard.press('Escape');
        await this.page
          .locator('.part.titlebar, .part.statusbar')
          .first()
          .click({ position: { x: 5, y: 5 } })
          .catch(() => {});
        continue;
      }
      const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
      try {
        // The box can close again between becoming visible and the fill (focus moving to a webview as it loads):
        // a short timeout, then the retry below, instead of the 30 s default.
        await this.quickInputBox.fill(`>${title}`, { timeout: 3000 });
        await row.waitFor({ timeout: 3000 });
        // The palette matches fuzzily: make sure the first row is exactly this command.
        const label = (await row.getAttribute('aria-label')) ?? (await row.innerText());
        if (!label.includes(title)) throw new Error(`first palette row is "${label}"`);
        await this.page.keyboard.press('Enter');
        return;
      } catch (e) {
        await this.page.keyboard.press('Escape');
        if (Date.now() > end) throw new Error(`command palette has no "${title}"`, { cause: e });
        await this.page.waitForTimeout(500);
      }
    }
  }

  /** Wait for a quick input whose title or prompt contains `text` (string or RegExp). */
  async waitQuickInput(text, timeoutMs = 30_000) {
    await this.quickInput.filter({ hasText: text }).waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /** Type into the visible input box and accept. */
  async answer(value) {
    await this.quickInputBox.waitFor({ state: 'visible' });
    await this.quickInputBox.fill(value);
    await this.page.waitForTimeout(150);
    await this.page.keyboard.press('Enter');
  }

  /** Choose the quick-pick row whose label contains `label`. */
  async pick(label, timeoutMs = 30_000) {
    const row = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: label }).first();
    await row.waitFor({ state: 'visible', timeout: timeoutMs });
    await row.click();
  }

  /**
   * The simple file dialog (what showOpenDialog is in a browser): replace the path, wait for the dialog to settle
   * on it, press Enter.
   */
  async openDialog(fsPath, timeoutMs = 30_000) {
    await this.typeDialogPath(fsPath, timeoutMs);
    await this.page.keyboard.press('Enter');
    // Typing a folder may first navigate into it; Enter again accepts the folder itself.
    await this.page.waitForTimeout(700);
    if (await this.quickInputBox.isVisible()) {
      const v = await this.quickInputBox.inputValue();
      if (v.replace(/\/$/, '') === fsPath.replace(/\/$/, '')) await this.page.keyboard.press('Enter');
    }
  }

  /**
   * Type `fsPath` into the simple file dialog once it has settled: it fills its input with the default path only
   * after it has listed that folder, which overwrites anything typed before. Retype until the value sticks.
   */
  async typeDialogPath(fsPath, timeoutMs = 30_000) {
    await this.quickInputBox.waitFor({ state: 'visible', timeout: timeoutMs });
    const end = Date.now() + timeoutMs;
    // Settled: a value that has not changed for 400 ms.
    let last = await this.quickInputBox.inputValue();
    for (let still = 0; still < 4 && Date.now() < end;) {
      await this.page.waitForTimeout(100);
      const v = await this.quickInputBox.inputValue();
      still = v === last && v !== '' ? still + 1 : 0;
      last = v;
    }
    for (;;) {
      await this.quickInputBox.fill(fsPath);
      await this.page.waitForTimeout(700);
      const v = await this.quickInputBox.inputValue();
      if (v.replace(/\/$/, '') === fsPath.replace(/\/$/, '')) return;
      if (Date.now() > end) throw new Error(`file dialog: typed "${fsPath}", it reads "${v}"`);
    }
  }

  /**
   * The simple file dialog in save mode (what showSaveDialog is in a browser): replace the prefilled path with
   * `fsPath` (its folder must exist, the file should not), Enter, and wait for the dialog to close.
   */
  async saveDialog(fsPath, { title, timeoutMs = 30_000 } = {}) {
    if (title) await this.waitQuickInput(title, timeoutMs);
    await this.typeDialogPath(fsPath, timeoutMs);
    await this.page.keyboard.press('Enter');
    try {
      await this.quickInput.waitFor({ state: 'hidden', timeout: 5000 });
    } catch (e) {
      const msg = await this.page
        .locator('.quick-input-widget .quick-input-message')
        .innerText()
        .catch(() => '');
      throw new Error(`save dialog did not accept "${fsPath}" (${msg})`, { cause: e });
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Notifications, panels, editors

  /** The editor tab whose label is exactly `label`. */
  editorTab(label) {
    return this.page
      .locator('.tabs-container .tab')
      .filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(label)}$`) }) })
      .first();
  }

  /** A notification toast (or notification-center entry) whose message matches `text`. */
  notification(text) {
    return this.page
      .locator('.notifications-toasts .notification-toast, .notifications-center .notification-list-item')
      .filter({ hasText: text })
      .first();
  }

  async clickNotificationButton(notification, label) {
    await notification.getByRole('button', { name: label, exact: true }).click();
  }

  /** The channel the Output view shows (its channel picker in the panel's title bar). */
  async outputChannelName() {
    const select = this.page.locator('.part.panel .title-actions select.monaco-select-box, .part.panel select.monaco-select-box').first();
    await select.waitFor({ state: 'attached', timeout: 10_000 });
    return select.evaluate((s) => s.options[s.selectedIndex]?.text ?? s.value);
  }

  async closeAllEditors() {
    await this.palette('View: Close All Editors');
    await this.page.waitForTimeout(300);
  }

  async clearNotifications() {
    await this.palette('Notifications: Clear All Notifications').catch(() => {});
  }

  /** Innermost frame of the visible webview (outer iframe.webview → inner #active-frame). */
  activeWebview() {
    // Webview iframes live in an overlay outside the editor's DOM; hidden ones are visibility:hidden.
    return this.page.locator('iframe.webview.ready:visible').last().contentFrame().locator('iframe#active-frame').contentFrame();
  }

  /** Tab labels of the open editors. */
  async editorTabs() {
    return this.page.locator('.tabs-container .tab .label-name').allInnerTexts();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Evidence

  /** Screenshot to test/e2e/out/<name>; with `docs`, also copy it to docs/screenshots/<docs>. */
  async screenshot(name, { docs } = {}) {
    fs.mkdirSync(OUT_DIR, { recursive: true });
    const file = path.join(OUT_DIR, name);
    await this.page.screenshot({ path: file });
    if (docs) {
      fs.mkdirSync(DOCS_SHOTS, { recursive: true });
      fs.copyFileSync(file, path.join(DOCS_SHOTS, docs));
    }
    return file;
  }

  /** Screenshot after a failure, named after the test; never throws. */
  async failureShot(testName) {
    const safe = testName
      .replace(/[^a-z0-9]+/gi, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 80);
    await this.screenshot(`FAIL-${this.name}-${safe}.png`).catch(() => {});
  }
}
