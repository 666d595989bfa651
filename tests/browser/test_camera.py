"""The merchant's camera path, with Chromium's fake camera playing a picture of a voucher's
QR code (no real camera here): the page decodes the frames with the vendored jsQR and
redeems what it read."""
from __future__ import annotations

import io

import httpx
from PIL import Image
from playwright.async_api import expect

from redemption.render import qr_png
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, World, sign_in

FRAME_PX = (640, 480)
FAKE_CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def y4m_still(picture: Image.Image) -> bytes:
    """One 4:2:0 frame in a YUV4MPEG2 stream (Chromium's fake camera loops it)."""
    frame = Image.new("RGB", FRAME_PX, "white")
    picture = picture.convert("RGB")
    side = min(FRAME_PX) - 40
    picture = picture.resize((side, side), Image.NEAREST)
    frame.paste(picture, ((FRAME_PX[0] - side) // 2, (FRAME_PX[1] - side) // 2))
    y, u, v = frame.convert("YCbCr").split()
    half = (FRAME_PX[0] // 2, FRAME_PX[1] // 2)
    header = f"YUV4MPEG2 W{FRAME_PX[0]} H{FRAME_PX[1]} F10:1 Ip A1:1 C420jpeg\n".encode()
    return (header + b"FRAME\n" + y.tobytes() + u.resize(half).tobytes() + v.resize(half).tobytes())


async def test_the_merchant_scans_a_voucher_with_the_camera(base_url, world: World, ledger, tmp_path):
    from playwright.async_api import async_playwright

    async with httpx.AsyncClient(base_url=base_url,
                                 headers={"Authorization": f"Bearer {world.resident_token}"}) as api:
        issued = await api.post("/v1/vouchers", json={"asset": "civic", "amount": 75},
                          headers={"Idempotency-Key": "camera-1"})
    assert issued.status_code == 201, issued.text
    voucher = issued.json()
    video = tmp_path / "voucher.y4m"
    video.write_bytes(y4m_still(Image.open(io.BytesIO(qr_png(voucher["code"])))))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, *FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={video}"])
        try:
            context = await browser.new_context(base_url=base_url, permissions=["camera"])
            context.set_default_timeout(WAIT_MS)
            page = await context.new_page()
            await page.goto("/app/merchant")
            await sign_in(page, world.merchant_token)
            await page.click("#scan")
            await expect(page.locator("#preview-face")).to_have_text("75 文明积分")   # seen, not taken
            assert await page.locator("#camera").is_hidden()      # the camera stops after a read
            assert (await ledger.account(world.merchant_civic_account_id))["balance"] == 0
            await page.click("#confirm")
            await expect(page.locator("#result-text")).to_have_text("已收取 75 积分")
        finally:
            await browser.close()

    assert (await ledger.account(world.merchant_civic_account_id))["balance"] == 75
