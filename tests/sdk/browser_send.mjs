// Loads page.html (served by the test) in Debian's headless chromium, lets analytics-next queue
// its calls, leaves the page (which hides it), and reports what the page did as JSON. Usage: node
// browser_send.mjs PAGE_URL [POSTS]: with POSTS, the page is left once that many POSTs were answered 2xx.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const [pageUrl, posts = '0'] = process.argv.slice(2)
const profile = mkdtempSync(join(tmpdir(), 'surge-chromium-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
})
const log = []
let answered = 0
let allAnswered
const postsAnswered = new Promise((resolve) => { allAnswered = resolve })
if (Number(posts) === 0) allAnswered()
context.on('request', (r) => log.push({ event: 'request', method: r.method(), url: r.url() }))
context.on('requestfailed', (r) => log.push({ event: 'failed', url: r.url(), error: r.failure()?.errorText }))
context.on('response', async (r) => {
  log.push({ event: 'response', url: r.url(), status: r.status(), headers: await r.allHeaders() })
  if (r.request().method() === 'POST' && r.ok() && ++answered === Number(posts)) allAnswered()
})
try {
  const page = context.pages()[0] ?? (await context.newPage())
  page.on('console', (m) => log.push({ event: 'console', text: m.text() }))
  page.on('pageerror', (e) => log.push({ event: 'pageerror', text: String(e) }))
  await page.goto(pageUrl)
  await page.waitForFunction(() => window.surgeReady === true, null, { timeout: 20000 })
  await page.waitForTimeout(300)
  const waited = await Promise.race([postsAnswered.then(() => 'answered'), page.waitForTimeout(20000).then(() => 'timed out')])
  log.push({ event: 'leaving', waited })
  // The shopper leaves: the tab is hidden, then unloaded. Headless chromium keeps a background
  // or minimized tab visible, so leaving is what hides it; only a keepalive request survives.
  await page.goto('about:blank')
  await page.waitForTimeout(1000)
} finally {
  console.log(JSON.stringify(log))
  await context.close()
  rmSync(profile, { recursive: true, force: true })
}
