"""SONAR: multivariate anomaly detection (MVAD) on Wazuh alerts, on a Rust engine.

Modules (the seed's Python API): ``sonar.config`` (PipelineConfig), ``sonar.wazuh_client``
(WazuhIndexerClient), ``sonar.features`` (WazuhFeatureBuilder), ``sonar.engine``
(MVADModelEngine), ``sonar.pipeline`` (MVADPostProcessor); and ``sonar.mvad``
(MultivariateAnomalyDetector, a drop-in for time-series-anomaly-detector's). Importing the
package loads no torch, mlflow or pandas; pandas is used when installed.
"""

from sonar._native import __version__
from sonar.errors import SonarError

__all__ = ["__version__", "SonarError"]
