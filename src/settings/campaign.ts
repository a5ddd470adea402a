/**
 * The `campaign` section of the settings (src/settings/defs.ts) as the defaults a new campaign
 * starts from: `pvhctl campaign create` and `POST /v1/campaigns` take every value they are not
 * given from here, and the campaign keeps them (its stored policy), so editing the file later
 * changes new campaigns only.
 */
import { DEFAULT_SETTINGS, type CampaignSettings } from '../fleet/campaign-rules.ts';
import { numberOf, type Settings } from './resolve.ts';

/**
 * A new campaign's defaults from the effective settings; what the settings do not cover (which
 * hosts' 32-bit guests go first, the per-host cap, PV-only kernels) keeps the built-in default.
 * @example
 * campaignDefaults(settings).noticeDays // => 7, or campaign.notice_days from pvhctl.conf
 */
export function campaignDefaults(settings: Settings): CampaignSettings {
  return {
    ...DEFAULT_SETTINGS,
    canary: numberOf(settings, 'campaign.canary'),
    noticeDays: numberOf(settings, 'campaign.notice_days'),
    postponeDays: numberOf(settings, 'campaign.postpone_days'),
    switchEstimateMs: numberOf(settings, 'campaign.switch_minutes') * 60_000,
    canaryThreshold: numberOf(settings, 'campaign.canary_threshold') / 100,
    waveThreshold: numberOf(settings, 'campaign.wave_threshold') / 100,
    lengthDays: numberOf(settings, 'campaign.days'),
  };
}
