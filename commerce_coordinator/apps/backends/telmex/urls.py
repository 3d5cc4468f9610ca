"""URLs of the TELMEX backend: none yet (mount them under /backends/telmex/ when it gets a callback)."""

app_name = "backends_telmex"
urlpatterns: list = []
