"""What managers read off the record: KPIs and their definitions and queries, the
heatmap of a process version, and the what-if simulation of volume and staffing."""
