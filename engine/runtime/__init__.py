"""Running instances: load/run/save, human tasks, instances, task-form submissions, timers and the
worker, archiving, migrating and simulating.
"""
