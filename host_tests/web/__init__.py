"""The phone dashboard (tools/dashboard/web): its JavaScript decoder and the page in headless Chromium."""
