"""The database: engines and transactions, the tables, and Alembic migrations."""
