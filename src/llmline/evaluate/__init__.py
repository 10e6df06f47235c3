"""The evaluation link: metrics, reports, plots and promotion gates."""
