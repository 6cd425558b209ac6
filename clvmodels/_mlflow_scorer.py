"""MLflow "model from code" of a run's pyfunc scorer (see :mod:`clvmodels.mlflow_tracking`).

MLflow copies this file into the logged model and runs it when the model is loaded; it is not
meant to be imported.
"""

import mlflow

from clvmodels.mlflow_tracking import CLVScorer

mlflow.models.set_model(CLVScorer())
