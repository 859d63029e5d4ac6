"""Learning from incidents: metrics, reports and their rendering."""
