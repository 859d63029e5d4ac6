"""Live fire drills: plans, Chaos Toolkit runs, load, guardrails, scoring."""
