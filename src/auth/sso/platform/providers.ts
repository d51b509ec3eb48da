// Platform providers (PLATFORM_OIDC_PROVIDERS) as the running app knows them: the configuration,
// plus what discovery found (an openid-client Configuration: endpoints, the JWKS used to check ID
// tokens, the client's credentials). Discovery runs at boot; a provider that does not answer then
// is kept, marked unavailable, and discovered again with bounded exponential backoff, both in the
// background and at once when someone asks to sign in with it and the current wait is over. Until
// it answers, its buttons lead to a clear 503 page; once it does, sign-in works without a restart.
// An available provider stays available: its keys are refetched by openid-client as they rotate,
// and an outage after boot shows at the token request (also a 503 page).
import type { Logger } from 'pino';
import type * as oidc from 'openid-client';
import { Type } from 'typebox';
import type { PlatformProviderConfig } from '../../../config.ts';
import { PROVIDER_ID_PATTERN } from '../../../config.ts';
import { describeErrorChain } from '../../../infra/errors.ts';
import { discoverOidcClient } from '../discovery.ts';
import { ssoErrors } from '../errors.ts';

/** `:provider` in the platform sign-in routes of both hosts. */
export const ProviderParams = Type.Object({ provider: Type.String({ pattern: PROVIDER_ID_PATTERN }) });

export interface PlatformProvider {
  readonly id: string;
  readonly config: PlatformProviderConfig;
  /** Discovery has succeeded: sign-ins can start. */
  readonly available: boolean;
  /** The issuer as its discovery document names it; null while unavailable. */
  readonly issuer: string | null;
}

export interface RetryPolicy {
  minMs: number;
  maxMs: number;
}

/** How long to wait after the n-th failure in a row (n >= 1): minMs, doubling, never more than maxMs. */
export function retryDelayMs(failures: number, policy: RetryPolicy): number {
  if (failures < 1) return 0;
  return Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(failures - 1, 40));
}

export interface PlatformProvidersOptions {
  /** Deadline for discovery and every later request to the provider. */
  timeoutMs: number;
  allowHttpIssuers: boolean;
  retry: RetryPolicy;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** The clock waits are measured on (tests move it instead of waiting). */
  now?: () => number;
  /** Runs `run` once after `delayMs`; returns what cancels it. Default: a timer that never keeps the process alive. */
  schedule?: (run: () => void, delayMs: number) => () => void;
  /** For tests: replaces openid-client's discovery. */
  discover?: (config: PlatformProviderConfig) => Promise<oidc.Configuration>;
}

interface ProviderState {
  config: PlatformProviderConfig;
  configuration: oidc.Configuration | null;
  /** Failed discoveries in a row, and when the last one failed (options.now). */
  failures: number;
  failedAt: number;
  discovering: Promise<void> | null;
  cancelRetry: (() => void) | null;
}

function afterDelay(run: () => void, delayMs: number): () => void {
  const timer = setTimeout(run, delayMs);
  timer.unref();
  return () => clearTimeout(timer);
}

export function createPlatformProviders(configs: readonly PlatformProviderConfig[], options: PlatformProvidersOptions) {
  const now = options.now ?? Date.now;
  const schedule = options.schedule ?? afterDelay;
  const discover = options.discover ?? ((config: PlatformProviderConfig) => discoverOidcClient(config, options));
  const { log } = options;
  let stopped = false;

  const states = new Map<string, ProviderState>(
    configs.map((config) => [config.id, { config, configuration: null, failures: 0, failedAt: 0, discovering: null, cancelRetry: null }]),
  );
  const views: readonly PlatformProvider[] = [...states.values()].map((state) => ({
    id: state.config.id,
    config: state.config,
    get available() {
      return state.configuration !== null;
    },
    get issuer() {
      return state.configuration?.serverMetadata().issuer ?? null;
    },
  }));

  async function attempt(state: ProviderState): Promise<void> {
    state.cancelRetry?.();
    state.cancelRetry = null;
    const provider = state.config.id;
    try {
      state.configuration = await discover(state.config);
      if (state.failures > 0) log.info({ provider, failures: state.failures }, 'platform provider available again: discovery succeeded');
      state.failures = 0;
    } catch (error) {
      state.failures += 1;
      state.failedAt = now();
      const retryInMs = retryDelayMs(state.failures, options.retry);
      const details = { provider, failures: state.failures, retryInMs, problem: describeErrorChain(error) };
      if (state.failures === 1) log.error(details, 'platform provider unavailable: discovery failed');
      else log.warn(details, 'platform provider still unavailable: discovery failed again');
      if (!stopped) {
        state.cancelRetry = schedule(() => {
          state.cancelRetry = null;
          void discoverNow(state);
        }, retryInMs);
      }
    }
  }

  /** One discovery at a time per provider: whoever asks meanwhile waits for the one under way. */
  function discoverNow(state: ProviderState): Promise<void> {
    state.discovering ??= attempt(state).finally(() => {
      state.discovering = null;
    });
    return state.discovering;
  }

  return {
    /** Every configured provider, available or not, in configuration order (the sign-in page lists them). */
    list(): readonly PlatformProvider[] {
      return views;
    },

    find(id: string): PlatformProvider | undefined {
      return views.find((p) => p.id === id);
    },

    /** Discovers every provider once (at boot). Never rejects: failures are retried with backoff. */
    async start(): Promise<void> {
      await Promise.all([...states.values()].map((state) => (state.configuration === null ? discoverNow(state) : undefined)));
    },

    /**
     * The provider's configuration, for a sign-in. While it is unavailable, discovery is tried
     * again right now when the current wait is over (or joined when under way); otherwise, or when
     * that fails too, the 503 page that says the provider is not answering.
     */
    async configurationFor(id: string): Promise<oidc.Configuration> {
      const state = states.get(id);
      if (state === undefined) throw ssoErrors.notEnabled('this provider');
      if (state.configuration === null) {
        const due = state.failures === 0 || now() - state.failedAt >= retryDelayMs(state.failures, options.retry);
        if (due || state.discovering !== null) await discoverNow(state);
      }
      if (state.configuration === null) throw ssoErrors.unavailable(state.config.name);
      return state.configuration;
    },

    /** Cancels background retries (the runtime closes it). */
    stop(): void {
      stopped = true;
      for (const state of states.values()) {
        state.cancelRetry?.();
        state.cancelRetry = null;
      }
    },
  };
}

export type PlatformProviders = ReturnType<typeof createPlatformProviders>;
