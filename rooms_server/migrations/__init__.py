"""The Alembic environment and scripts, shipped inside the package so an installed server can migrate."""
