"""Running the lake unattended: the scheduler daemon (`daemon.py`) and its jobs (`jobs.py`), the schedule
(`schedule.py`), the live status files a monitor reads without touching the database (`live.py`) and the
Prometheus metrics (`metrics.py`). One layer above `binance_lake.lake`: jobs are `Lake` calls."""
