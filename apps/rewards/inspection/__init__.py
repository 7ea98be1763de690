"""The inspector: how a reward function version agrees with the project's human labels,
what drives it and how it can be gamed; two versions compared; weights fitted to labels.

services.py runs the job (rows in, `workers.rewards.inspection` for the numbers, one
JSON result out); selectors.py reads; charts.py turns a result into Chart.js configs;
views.py and api.py are the pages and endpoints.
"""
