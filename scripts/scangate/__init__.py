"""scangate: a container-image security gate for CI/CD.

Trivy JSON in; a policy decision, SARIF, a GitLab container-scanning report, ASFF and
summaries out, all from one parse of the input.
"""

__version__ = "0.1.0"
