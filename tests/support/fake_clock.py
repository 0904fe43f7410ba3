"""A clock the test moves by hand: what the rate limiters, the token manager and the progress
timer take as `clock=`, so that time-bound behaviour is tested in steps, not sleeps."""


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds
