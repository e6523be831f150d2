"""AI Engineer Workbench: the 2026 AI-engineer roadmap as graded hands-on labs."""

__version__ = "0.1.0"
