"""What happened: the hash-chained history, checkpoints, submissions, attachments, audit reading,
the read queries and the procedure tracker.
"""
