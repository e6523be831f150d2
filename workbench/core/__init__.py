"""Domain core: curricula, labs, grading, progress, skills. Stdlib + pydantic only."""
