"""axe-core (vendored under api/static/vendor/axe-core) run in the page: no critical or
serious accessibility violation may be found, in any state a test reaches."""
from __future__ import annotations

import json

AXE_URL = "/static/vendor/axe-core/axe.min.js"
BLOCKING_IMPACTS = ("critical", "serious")


async def assert_accessible(page, state: str = "") -> None:
    """Run axe on the page as it is now (loaded from this origin, so the page's
    Content-Security-Policy allows it)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(url=AXE_URL)
    violations = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    where = f"{page.url} {state}".strip()
    assert blocking == [], f"axe on {where}:\n" + json.dumps(blocking, ensure_ascii=False, indent=1)
