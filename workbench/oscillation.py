"""Oscillations in a training curve: are the wobbles structured (a period) or white noise?

Definitions (samples = the series' points; periods are reported in x units = samples × dx):
- Scale: a positive series spanning more than a decade (a loss) is analyzed as log10 y, any
  other series as y.
- Uniform grid: a series logged at irregular x is first interpolated linearly onto a grid at
  its median spacing dx (said on the figure).
- Trend + oscillation: trend = zero-phase 4th-order Butterworth low-pass
  (`scipy.signal.butter` + `sosfiltfilt`) with its cutoff at one cycle per `window` samples
  (default 100); oscillation = scaled y − trend, i.e. everything with a period shorter than
  the window. Amplitude = √2 × the oscillation's standard deviation (a sinusoid's amplitude).
- Structured share: the fraction of the oscillation's power that stands above white noise.
  Welch's PSD (Hann segments of 4 windows, 50% overlap) over the oscillation band; under
  white noise every bin is the noise floor × χ²_ν/ν with ν = the number of segments
  (conservative for overlapping segments); the floor is estimated robustly from the median
  bin. Bins above the floor's (1 − 0.01/#bins) quantile count as structured, with the floor
  subtracted: share = Σ (P − floor) over those bins / Σ P. White noise gives ≈ 0, a clean
  sinusoid ≈ 1.
- Dominant period: the highest peak of the whole series' periodogram (Hann) in the band,
  refined by parabolic interpolation of log power.
- Sliding periodogram / autocorrelation: windows of `window` samples; for long series the
  stride between windows grows so that at most `max_windows` are computed (every window is
  full-resolution: a 7-step period stays visible in a million steps). Said on the figure.
- Peak spacing: `scipy.signal.find_peaks` on the oscillation with prominence ≥ its standard
  deviation; the spacing of consecutive peaks in x units, grouped by training phase.
"""
from __future__ import annotations

import numpy as np
from scipy import signal, stats

from workbench.errors import BadInputError

WINDOW = 100
MAX_WINDOWS = 400
MAX_LAG_FRACTION = 0.5   # autocorrelation up to half a window
FILTER_ORDER = 4
ALPHA = 0.01


def uniform_grid(x, y) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """(x, y) on a uniform grid at the median spacing: (x, y, dx, resampled?)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return x, y, 1.0, False
    steps = np.diff(x)
    dx = float(np.median(steps))
    if dx <= 0:
        raise BadInputError("the series' x must increase")
    if np.allclose(steps, dx, rtol=0.01):
        return x, y, dx, False
    grid = np.arange(x[0], x[-1] + dx / 2, dx)
    return grid, np.interp(grid, x, y), dx, True


def analysis_scale(y: np.ndarray) -> tuple[np.ndarray, str]:
    """log10 y for a positive series spanning more than a decade (losses), else y."""
    if len(y) and np.all(y > 0) and y.max() > 10 * y.min():
        return np.log10(y), "log10"
    return y.astype(np.float64), "linear"


def decompose(z: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """(trend, oscillation) of z: zero-phase Butterworth low-pass at 1 cycle per `window` samples."""
    if len(z) < 4 * FILTER_ORDER + 4 or window < 3:
        trend = np.full(len(z), float(np.mean(z)) if len(z) else 0.0)
        return trend, z - trend
    sos = signal.butter(FILTER_ORDER, 2.0 / window, btype="lowpass", output="sos")
    trend = signal.sosfiltfilt(sos, z, padlen=min(len(z) - 1, 3 * window))
    return trend, z - trend


def window_starts(n: int, window: int = WINDOW, max_windows: int = MAX_WINDOWS) -> np.ndarray:
    """Start indices of the sliding windows: stride window/2, widened to keep ≤ max_windows."""
    if n < window:
        return np.zeros(0, dtype=np.int64)
    stride = max(window // 2, int(np.ceil((n - window) / max(max_windows - 1, 1))))
    return np.arange(0, n - window + 1, stride, dtype=np.int64)


def sliding_periodogram(osc: np.ndarray, starts: np.ndarray, window: int = WINDOW):
    """(frequencies in cycles/sample [n_freq], power [n_windows, n_freq], dominant period in
    samples per window [n_windows]); the zero frequency is dropped."""
    if not len(starts):
        return np.zeros(0), np.zeros((0, 0)), np.zeros(0)
    segments = osc[starts[:, None] + np.arange(window)]
    freqs, power = signal.periodogram(segments, window="hann", detrend="linear", axis=-1)
    freqs, power = freqs[1:], power[:, 1:]
    return freqs, power, 1.0 / freqs[np.argmax(power, axis=1)]


def sliding_autocorrelation(osc: np.ndarray, starts: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Autocorrelation at lags 0..window·MAX_LAG_FRACTION in each window, [n_windows, n_lags]."""
    n_lags = int(window * MAX_LAG_FRACTION) + 1
    if not len(starts):
        return np.zeros((0, n_lags))
    segments = osc[starts[:, None] + np.arange(window)]
    segments = segments - segments.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(segments, n=2 * window, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :n_lags]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(acf / acf[:, :1])


def structured_share(osc: np.ndarray, window: int = WINDOW) -> tuple[float, float]:
    """(share of the oscillation's power above white noise, noise floor of the PSD)."""
    nperseg = min(len(osc), 4 * window)
    if nperseg < 8:
        return 0.0, 0.0
    freqs, psd = signal.welch(osc, window="hann", nperseg=nperseg, noverlap=nperseg // 2)
    band = freqs > 1.5 / window
    psd = psd[band]
    if not len(psd) or psd.sum() <= 0:
        return 0.0, 0.0
    segments = max(1, (len(osc) - nperseg) // (nperseg - nperseg // 2) + 1)
    dof = float(segments)
    floor = float(np.median(psd)) / (stats.chi2.median(dof) / dof)
    threshold = floor * stats.chi2.ppf(1 - ALPHA / len(psd), dof) / dof
    above = psd > threshold
    return float(np.sum(psd[above] - floor) / psd.sum()), floor


def dominant_period(osc: np.ndarray, window: int = WINDOW) -> float | None:
    """Period (samples) of the highest periodogram peak in the oscillation band."""
    if len(osc) < 8:
        return None
    freqs, power = signal.periodogram(osc, window="hann")
    band = np.flatnonzero(freqs > 1.5 / window)
    if not len(band) or power[band].max() <= 0:
        return None
    i = int(band[np.argmax(power[band])])
    f = freqs[i]
    if 0 < i < len(power) - 1 and np.all(power[i - 1: i + 2] > 0):
        a, b, c = np.log(power[i - 1: i + 2])
        denominator = a - 2 * b + c
        if denominator < 0:
            f += 0.5 * (a - c) / denominator * (freqs[1] - freqs[0])
    return float(1.0 / f)


def peak_spacing(x: np.ndarray, osc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x of each peak after the first, spacing to the previous peak in x units)."""
    if len(osc) < 3:
        return np.zeros(0), np.zeros(0)
    peaks, _ = signal.find_peaks(osc, prominence=float(np.std(osc)) or None)
    return x[peaks[1:]], np.diff(x[peaks])


def analyze(x, y, window: int = WINDOW, max_windows: int = MAX_WINDOWS) -> dict:
    """Everything the oscillation figures show for one series (module docstring), as arrays
    and numbers: x, y, trend, oscillation (on `scale`), window centres (x units), frequencies
    (cycles per x unit), power, dominant period per window, autocorrelation and lags (x units),
    peaks and spacing, amplitude, structured share, dominant period, and how it was sampled."""
    x, y, dx, resampled = uniform_grid(x, y)
    if len(x) < 2 * FILTER_ORDER + 8:
        raise BadInputError(f"{len(x)} finite points are too few for oscillation analysis (need at least "
                            f"{2 * FILTER_ORDER + 8})")
    window = int(min(window, max(8, len(x) // 2)))
    z, scale = analysis_scale(y)
    trend, osc = decompose(z, window)
    starts = window_starts(len(z), window, max_windows)
    freqs, power, periods = sliding_periodogram(osc, starts, window)
    acf = sliding_autocorrelation(osc, starts, window)
    peak_x, spacing = peak_spacing(x, osc)
    share, floor = structured_share(osc, window)
    period = dominant_period(osc, window)
    all_starts = window_starts(len(z), window, np.inf)
    return {
        "x": x, "y": y, "trend": trend, "oscillation": osc, "scale": scale, "dx": dx, "resampled": resampled,
        "window": window, "window_x": x[starts + window // 2] if len(starts) else np.zeros(0),
        "frequency": freqs / dx, "power": power, "window_period": periods * dx,
        "lags": np.arange(acf.shape[1]) * dx, "autocorrelation": acf,
        "windows_shown": len(starts), "windows_total": len(all_starts),
        "peak_x": peak_x, "spacing": spacing,
        "amplitude": float(np.sqrt(2) * np.std(osc)), "structured_share": share, "noise_floor": floor,
        "dominant_period": None if period is None else period * dx,
    }
