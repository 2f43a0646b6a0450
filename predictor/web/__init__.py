"""The pages: forms, views of the prediction, course and model-card pages, health checks."""
