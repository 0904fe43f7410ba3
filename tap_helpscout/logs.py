"""Logging (placeholder until the logging setup lands): the modules ask this module for their
logger, so that the setup lives in one place."""
import singer


def get_logger():
    return singer.get_logger()
