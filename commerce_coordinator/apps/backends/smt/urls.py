"""URLs of the SMT backend: none yet (mount them under /backends/smt/ when it gets a callback)."""

app_name = "backends_smt"
urlpatterns: list = []
