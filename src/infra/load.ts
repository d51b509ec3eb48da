// What an instance does when it gets more than it can serve, rather than queueing without bound:
// - overloaded (event loop delay or utilisation, heap: @fastify/under-pressure, sampled every
//   second): every request but the liveness probe gets a 503 page with Retry-After, so the load
//   balancer moves traffic elsewhere and clients come back later;
// - too many requests from one client address (IPv4 address, IPv6 /64; @fastify/rate-limit, in
//   memory, bounded): the routes that name a limit in `config.rateLimit` answer 429 with
//   Retry-After. Limits are per instance: with N instances a client gets at most N times the limit,
//   which is what they are for (a flood), not an account's guessing (sign-in throttling is shared,
//   auth/password/throttle.ts).
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { AppError } from './errors.ts';

export interface LoadOptions {
  maxEventLoopDelayMs: number;
  maxEventLoopUtilization: number;
  /** 0: no heap limit. */
  maxHeapUsedBytes: number;
  retryAfterSeconds: number;
}

function overloaded(seconds: number): AppError {
  return new AppError(503, 'overloaded', 'Sidechart is very busy at the moment. Try again in a few seconds.', { headers: { 'retry-after': String(seconds) } });
}

function tooManyRequests(seconds: number): AppError {
  return new AppError(429, 'too_many_requests', `Too many requests from your address. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`, {
    headers: { 'retry-after': String(seconds) },
  });
}

async function load(app: FastifyInstance, options: LoadOptions): Promise<void> {
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxEventLoopUtilization: options.maxEventLoopUtilization,
    maxHeapUsedBytes: options.maxHeapUsedBytes,
    retryAfter: options.retryAfterSeconds,
    pressureHandler: async (request, _reply, type, value) => {
      request.log.warn({ event: 'overloaded', type, value }, 'overloaded: request refused with 503');
      throw overloaded(options.retryAfterSeconds);
    },
  });
  // Limits only where a route asks for one (config.rateLimit on the route).
  await app.register(rateLimit, {
    global: false,
    cache: 10_000,
    errorResponseBuilder: (_request, context) => tooManyRequests(Math.max(1, Math.ceil(context.ttl / 1000))),
  });
}

export const loadPlugin = fp(load, { name: 'sidechart-load', fastify: '5.x' });

/** For routes that must answer under pressure (the liveness probe): handled as usual. */
export const answerUnderPressure = { pressureHandler: () => undefined };

/** Route config for the sign-in routes (the password form and every SSO step): per address and minute. */
export function signInRateLimit(perMinute: number) {
  return { rateLimit: { max: perMinute, timeWindow: 60_000 } };
}
