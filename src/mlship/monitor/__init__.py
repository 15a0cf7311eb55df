"""Monitoring: the training reference profile, prediction-log reading, drift statistics, report, replay."""
