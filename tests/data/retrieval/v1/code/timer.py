"""Boil timer for the kettle firmware."""


def boil_seconds(volume_litres: float, power_watts: float) -> float:
    """Seconds to bring water from 20 to 100 degrees Celsius."""
    energy_joules = volume_litres * 4186 * 80
    return energy_joules / power_watts
