"""The API docs pages (Swagger UI at /schema/swagger, Redoc at /schema and /schema/redoc)
render the live OpenAPI document from the service's own vendored files: no request
leaves the service (a script from another origin would run where the pages keep their
tokens, and a CDN may be unreachable)."""
from __future__ import annotations

from urllib.parse import urlparse

import pytest

DOCS_PAGES = [("/schema/swagger", ".opblock"), ("/schema", ".api-content"), ("/schema/redoc", ".api-content")]


@pytest.mark.parametrize(("path", "rendered"), DOCS_PAGES)
async def test_docs_render_the_api_with_nothing_from_elsewhere(new_page, base_url: str, path: str, rendered: str):
    page = await new_page(path)
    await page.wait_for_selector(rendered, state="attached")
    assert "/v1/vouchers" in await page.content()          # the live document, rendered
    origin = urlparse(base_url).netloc
    elsewhere = [url for url in page.requested if urlparse(url).scheme in ("http", "https")
                 and urlparse(url).netloc != origin]
    assert elsewhere == []
