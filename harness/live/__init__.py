"""Live monitoring (DESIGN section 11, the roadmap's phases 2 and 3): the service API, live sources
(a simulated organisation in accelerated real time, a growing observations file), the Prometheus
exporter and the alert sink behind ``tdbench task=monitor``."""

from harness.live.service import HealthCheck, ResilienceService
from harness.live.settings import ResilienceTransportConfig

__all__ = ["HealthCheck", "ResilienceService", "ResilienceTransportConfig"]
