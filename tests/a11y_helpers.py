"""Accessibility checks in the browser tests: axe-core (vendored in tests/vendor/) run on the page
as it is, against the WCAG 2.0, 2.1 and 2.2 rules of levels A and AA.

The portal's CSP (`script-src 'self'`) refuses what axe needs: `page.add_script_tag(path=...)`
inserts the file's text as an inline <script>, which Chromium blocks ("Executing inline script
violates ... script-src 'self'"). So pages checked with axe are opened in a browser context made
with `bypass_csp=True` (see `a11y_context`); the other browser tests keep the real CSP.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page

AXE_SCRIPT = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
FAILING_IMPACTS = {"serious", "critical"}


async def a11y_context(browser: Browser) -> BrowserContext:
    """A browser context in which axe can be injected: the page's CSP is not applied."""
    context = await browser.new_context(bypass_csp=True)
    context.set_default_timeout(10_000)
    return context


async def axe_violations(page: Page) -> list[dict]:
    """axe's WCAG A/AA violations of the page as it is now (after its scripts have run)."""
    await page.wait_for_load_state("load")
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(AXE_SCRIPT))
    return await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: "
        "['violations']}).then(results => results.violations)",
        WCAG_TAGS,
    )


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']} "
            f"<{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {' '.join(map(str, node['target']))}: {summary}")
    return "\n".join(lines)


async def assert_accessible(page: Page, context: str) -> None:
    """Fails, listing each one (rule, help, the elements' selectors), when axe finds a serious
    or critical WCAG A/AA violation on the page. `context` names the page in the message."""
    violations = [v for v in await axe_violations(page) if v["impact"] in FAILING_IMPACTS]
    assert not violations, (
        f"{context} ({page.url}): {len(violations)} serious or critical accessibility "
        f"violation(s):\n{describe(violations)}"
    )
