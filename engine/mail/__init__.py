"""Who is told what (the Notifier subscriber) and how mail is delivered."""
