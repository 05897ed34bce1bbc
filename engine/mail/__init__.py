"""Who is told what (queued by the outbox worker after commit) and how mail is delivered."""
